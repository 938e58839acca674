# What: the loss is right but dX is tf.zeros_like(X) (gradient never computed); the update step itself is right
# What: One mistake, one penalty: the loss value is the raw score (raw_score keeps its point; it lost it to the
# What: gradient before)
# Expected: loss_value=2 gradient_sign=0 l2_regularizer=0 raw_score=1 update_step=3 score_increase=0 tf_function=1
# Feedback: score_increase ~ no usable gradient
# Feedback: gradient_sign ~ all zeros
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    dX = tf.zeros_like(X)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
