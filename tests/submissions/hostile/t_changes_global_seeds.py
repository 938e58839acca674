# What: right answers that reseed NumPy and TensorFlow and spin a background thread on every call: seeds do not matter
# What: (the grader chooses every input), so full marks
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Status: graded
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    import threading, time
    np.random.seed(123)
    tf.random.set_seed(123)
    threading.Thread(target=lambda: time.sleep(0.5), daemon=True).start()
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
