# What: the loss keeps the batch axis (shape (1,) instead of a scalar); all values are right. One mistake, one
# What: penalty: loss_value says so, and tf_function keeps its point (the function compiles and gives the same values)
# Expected: loss_value=0 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Feedback: loss_value ~ scalar
# Feedback: tf_function ~ compiles with tf.function
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
