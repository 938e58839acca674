# What: the squared norm as tf.norm(X) ** 2
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.constant(X, dtype=tf.float32) if not tf.is_tensor(X) else X
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model(X)
        score = scores[0][target_y]
        loss = score - l2_reg * tf.norm(X) ** 2
    dX = tape.gradient(loss, X)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    X_new = X + learning_rate * dX
    return X_new.numpy()
