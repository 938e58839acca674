# What: the L2 term and its gradient computed by hand in NumPy (right values, but dX is a NumPy array and the
# What: function cannot be compiled)
# Expected: loss_value=2 gradient_sign=0 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=0
# Feedback: gradient_sign ~ must be a tf.Tensor
# Feedback: tf_function ~ could not be compiled
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        score = model(X)[0, target_y]
    grad = tape.gradient(score, X).numpy()
    pixels = X.numpy()
    loss = score - l2_reg * np.sum(pixels ** 2)
    dX = grad - 2 * l2_reg * pixels
    return loss, dX

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX, dtype=np.float32)
