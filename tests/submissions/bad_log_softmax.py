# What: the log-softmax (log-probability) of the class instead of its raw score
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=2 raw_score=0 update_step=3 score_increase=0 tf_function=1
# Feedback: loss_value ~ log-softmax
# Feedback: raw_score ~ log-softmax
# Feedback: score_increase ~ less than 50%
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        log_p = tf.nn.log_softmax(model(X), axis=-1)
        loss = log_p[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
