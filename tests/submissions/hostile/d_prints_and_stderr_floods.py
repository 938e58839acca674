# What: right answers that print 2 MB to stdout and stderr and raise warnings on every call, plus a cell printing 'All
# What: checks passed' 200000 times (never run by the grader)
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# Status: graded
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    import sys, warnings
    sys.stderr.write('E' * 2_000_000)
    print('P' * 2_000_000)
    warnings.warn('student warning ' * 100)
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)

# %%
for i in range(200000):
    print('All checks passed', i)
