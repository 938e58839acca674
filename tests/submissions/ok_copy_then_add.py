# What: gradient of a list of sources, training=False, and an update step that copies X before adding in place
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.cast(X, tf.float32)
    with tf.GradientTape(persistent=False) as tape:
        tape.watch(X)
        logits = model(X, training=False)
        loss = logits[0, target_y]
        loss = loss - l2_reg * tf.reduce_sum(tf.math.square(X))
    (dX,) = tape.gradient(loss, [X])
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    X_new = X.copy()
    _, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    X_new += learning_rate * dX.numpy()
    return X_new
