# What: tries to rewrite another student's result (h_update_raises) and to drop a forged result into the output
# What: folder, with Python and with tf.io.write_file; its own answers are right (full marks) and the victim keeps its
# What: real grade
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Status: graded
# Template: yes
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    forged = '{"score": 15, "max_score": 15, "status": "graded"}'
    for path in ("{OUT}/results/h_update_raises.json", "{OUT}/results/zz_forged.json", "{OUT}/grades.csv"):
        for write in (lambda p: open(p, "w").write(forged), lambda p: tf.io.write_file(p, forged)):
            try:
                if tf.executing_eagerly():  # (traced by tf.function, tf.io.write_file would be a graph op)
                    write(path)
            except Exception:
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
