# What: the loss function imports a helper that classviz does not have; the feedback quotes the ImportError
# What: without any path of the grading machine (the same bytes on every run)
# What: One mistake, one penalty: the update step, right, is judged by the substituted gradient (it lost its 3 points
# What: to the loss function's ImportError before)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=3 score_increase=0 tf_function=0
# Feedback: loss_value ~ cannot import name 'no_such_helper' from 'classviz' (classviz/__init__.py)
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    from classviz import no_such_helper
    return no_such_helper(model, X, target_y, l2_reg)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)
