# What: a default argument of the loss function raises at definition time, so it is never defined: the feedback names
# What: the exception instead of only 'not defined'
# What: One mistake, one penalty: the update step, right, is judged by the substituted gradient (issue 19; it lost
# What: its 3 points to the missing loss function before)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=3 score_increase=0 tf_function=0
# Status: graded
# Feedback: loss_value ~ ZeroDivisionError
# Feedback: loss_value ~ its definition (the cell defining class_visualization_loss_and_gradient, line 1)
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg, _scale=1 / 0):
    return 0.0, X

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
