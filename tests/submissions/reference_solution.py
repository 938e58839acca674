# What: the reference solution, as in solutions/class_visualization/class_visualization.ipynb
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model(X)
        loss = scores[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    dX = tape.gradient(loss, X)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    X_new = np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
    return X_new
