# What: the update step allocates 256 GB at once (far more than the memory limit)
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=0 score_increase=0 tf_function=1
# Status: graded
# Feedback: update_step ~ MemoryError
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    big = np.ones(1 << 38, dtype=np.uint8)
    return X + big[0]
