# What: the scores converted to NumPy before the loss, so the tape sees no path from X to the loss (dX is None)
# What: One mistake, one penalty: the loss value is still the raw score (raw_score keeps its point) and the update step,
# What: right, is judged by the substituted gradient (it was 0 when the step ran with the None dX first)
# Expected: loss_value=2 gradient_sign=0 l2_regularizer=0 raw_score=1 update_step=3 score_increase=0 tf_function=0
# Feedback: score_increase ~ no usable gradient
# Feedback: gradient_sign ~ dX is None
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model(X).numpy()
        loss = tf.constant(scores[0, target_y] - l2_reg * np.sum(X.numpy() ** 2), dtype=tf.float32)
    dX = tape.gradient(loss, X)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
