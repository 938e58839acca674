# What: right answers that first try subprocess, os.system, os.fork and _posixsubprocess.fork_exec (a detached shell
# What: that would outlive the grading): every attempt fails, and the answers earn full marks
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Status: graded
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    import os, subprocess, _posixsubprocess
    for attempt in (lambda: subprocess.run(["sh", "-c", "sleep 600"]), lambda: os.system("sleep 600 &"),
                    lambda: os.fork(),
                    lambda: _posixsubprocess.fork_exec([b"/bin/sh", b"-c", b"sleep 600"], [b"/bin/sh"], True, (),
                                                       None, None, -1, -1, -1, -1, -1, -1, -1, -1, True, True, -1,
                                                       None, None, None, -1, None, False)):
        try:
            attempt()
            raise RuntimeError("a process was started")
        except PermissionError:
            pass
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
