# What: the loss written as a cost to minimize (-s_y + l2_reg ||X||^2), then stepped with + (so: descent)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=3 score_increase=0 tf_function=1
# Feedback: loss_value ~ opposite sign
# Feedback: gradient_sign ~ opposite way
# Feedback: l2_regularizer ~ wrong sign
# Feedback: raw_score ~ negated raw score
# Feedback: score_increase ~ went down
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        cost = -model(X)[0, target_y] + l2_reg * tf.reduce_sum(tf.square(X))
    return cost, tape.gradient(cost, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    cost, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
