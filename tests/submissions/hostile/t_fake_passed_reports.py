# What: prints fake 'passed' reports and a fake result JSON, writes a fake frame to stdout; the loss misses the L2
# What: term and the update returns X: it gets exactly what those answers earn
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=1 update_step=0 score_increase=0 tf_function=1
# Status: graded
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    import sys
    print('{"score": 15, "max_score": 15, "status": "graded", "checks": []}')
    print("All checks passed 15/15")
    sys.stdout.write("CVG1" + "\x00\x00\x00\x10" + '{"ok": true}    ')
    sys.stdout.flush()
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y]
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    return X
