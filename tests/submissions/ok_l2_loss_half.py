# What: the seed's own form of the regularizer, tf.nn.l2_loss (half the squared norm), accepted as correct
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.nn.l2_loss(X)
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    _, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return X + learning_rate * dX.numpy()
