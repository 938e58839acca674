# What: no L2 term at all (the raw score alone)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Feedback: loss_value ~ L2 term is missing
# Feedback: gradient_sign ~ L2 term is missing
# Feedback: l2_regularizer ~ does not reach the gradient
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y]
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
