# What: the loss keeps the batch axis (shape (1,) instead of a scalar); all values are right, but the loop's
# What: compile_loss_and_gradient (and the public check) cannot compare a shape-(1,) loss, so tf_function fails too
# Expected: loss_value=0 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=0
# Feedback: loss_value ~ scalar
# Feedback: tf_function ~ only 0-dimensional arrays
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[:, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
