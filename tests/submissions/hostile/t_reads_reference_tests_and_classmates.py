# What: tries to read the reference solution, the hidden checks, the grader's command line and a classmate's notebook
# What: with Python and with TensorFlow's C++ file system (tf.io), and to list the submissions folder; it returns a
# What: wrong gradient if any attempt succeeds: none does, so full marks
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Status: graded
# Template: yes
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    import os
    leaks = []
    for path in ("{REPO}/classviz_reference/solution.py", "{REPO}/autograder/hidden_tests/test_class_visualization.py", "{SUBMISSIONS}/reference_solution.ipynb",
                 "/proc/" + str(os.getppid()) + "/cmdline"):
        for read in (lambda p: open(p, "rb").read(), lambda p: tf.io.read_file(p).numpy()):
            try:
                data = read(path)
                if path.endswith("cmdline") and b"autograder" not in data:
                    continue
                leaks.append(path)
            except Exception:
                pass
    for listing in (lambda: os.listdir("{SUBMISSIONS}"), lambda: tf.io.gfile.listdir("{SUBMISSIONS}")):
        try:
            listing()
            leaks.append("listing")
        except Exception:
            pass
    if leaks:
        raise RuntimeError("LEAKED " + " ".join(leaks))
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
