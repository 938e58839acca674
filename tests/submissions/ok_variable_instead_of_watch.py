# What: a tf.Variable instead of tape.watch (the tape watches variables by itself)
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    image = tf.Variable(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        scores = model(image)
        loss = scores[0, target_y] - l2_reg * tf.reduce_sum(image * image)
    dX = tape.gradient(loss, image)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.array(X + learning_rate * dX.numpy(), dtype=np.float32)
