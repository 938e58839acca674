# What: the class score picked with a one-hot mask and reduce_sum; the squared norm as reduce_sum(X ** 2)
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model(X)
        mask = tf.one_hot(target_y, depth=1000)
        class_score = tf.reduce_sum(scores[0] * mask)
        penalty = l2_reg * tf.reduce_sum(X ** 2)
        loss = class_score - penalty
    dX = tape.gradient(loss, X)
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    _, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    step = learning_rate * np.asarray(dX)
    return (X + step).astype(np.float32)
