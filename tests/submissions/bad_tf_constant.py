# What: X = tf.constant(X) inside the loss function, the most common way students convert X: every value is right
# What: eagerly, but tf.function cannot compile it (tf.constant cannot take a symbolic tensor); only tf_function is
# What: lost, and its feedback names tf.constant and the fix
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=0
# Feedback: tf_function ~ tf.constant
# Feedback: tf_function ~ tf.convert_to_tensor
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
