# What: wrong first attempts (descent, softmax) left in earlier cells, corrected below; the stubs kept above
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Keep: stubs
# %% [at=start]
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return X - learning_rate * dX.numpy()   # first try: descent

# %% [at=loss]
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = tf.nn.softmax(model(X))[0, target_y] - l2_reg * tf.reduce_sum(X * X)
    return loss, tape.gradient(loss, X)

# %% [at=loss]
# second try: the raw score (this definition comes last, so it is the one that counts)
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(X * X)
    return loss, tape.gradient(loss, X)

# %% [at=update]
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return X + learning_rate * dX.numpy()
