# What: a default argument of the loss function loops forever (at definition time, without allocating): the
# What: definitions time out, which is the reason given
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=0 score_increase=0 tf_function=0
# Status: graded
# Feedback: loss_value ~ definitions
# Feedback: loss_value ~ took longer than
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg,
        _forever=[x for x in iter(int, 1) if False]):
    return 0.0, X

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
