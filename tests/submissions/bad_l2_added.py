# What: the L2 term added to the score instead of subtracted
# What: score_increase: the added L2 term pushes the pixels outwards; in the provided loop flamingo's score rises
# What: (+64) but crane ends top-1 on this machine (TF 2.21, oneDNN), as with the grader of 4e80b4e: a real
# What: effect of the mistake, close to the edge (a machine with other kernels may end on flamingo)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=1 update_step=3 score_increase=0 tf_function=1
# Feedback: loss_value ~ added to the score instead of subtracted
# Feedback: gradient_sign ~ wrong sign
# Feedback: l2_regularizer ~ wrong sign
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] + l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
