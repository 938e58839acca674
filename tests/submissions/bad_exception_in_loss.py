# What: the loss function raises (a misspelled tape method); the update step is right but calls it
# What: One mistake, one penalty: the update step, right, is judged by the substituted gradient (it lost its 3 points
# What: to the loss function's error before)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=3 score_increase=0 tf_function=0
# Feedback: loss_value ~ AttributeError
# Feedback: loss_value ~ (the cell defining class_visualization_loss_and_gradient, line 6: `return loss, tape.gradients(loss, X)`)
# Feedback: score_increase ~ AttributeError
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradients(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
