# What: tape.watch(X) forgotten: X is a plain tensor, so the tape records nothing and dX is None; the loss value and
# What: the update step are right. One mistake, one penalty: the gradient's checks (gradient_sign, l2_regularizer)
# What: and score_increase (no gradient, no rise) lose their points; update_step is judged by the substituted gradient
# What: (the step is right), raw_score checks the loss value (the raw score), tf_function compiles it (None both ways)
# Expected: loss_value=2 gradient_sign=0 l2_regularizer=0 raw_score=1 update_step=3 score_increase=0 tf_function=1
# Feedback: gradient_sign ~ dX is None
# Feedback: l2_regularizer ~ dX is None
# Feedback: score_increase ~ no usable gradient
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    dX = tape.gradient(loss, X)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    X_new = X + learning_rate * dX.numpy()
    return X_new.astype(np.float32)
