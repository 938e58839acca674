# What: the scores come from model.predict(X), a NumPy array: the loss value is right, but only the L2 term's
# What: gradient flows; the gradient checks and tf_function name model.predict; the update step itself is right
# What: One mistake, one penalty: the loss value is the raw score (raw_score keeps its point, it lost it to the
# What: gradient before) and the L2 term's gradient is right (l2_regularizer keeps its points: it lost them to the
# What: all-zero dX at l2_reg=0 before, though only the change with l2_reg counts)
# Expected: loss_value=2 gradient_sign=0 l2_regularizer=2 raw_score=1 update_step=3 score_increase=0 tf_function=0
# Feedback: gradient_sign ~ model.predict
# Feedback: tf_function ~ model.predict returns a NumPy array
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model.predict(X, verbose=0)
        loss = scores[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
