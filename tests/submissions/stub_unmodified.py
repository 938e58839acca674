# What: the release notebook as handed out (both functions raise NotImplementedError)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=0 score_increase=0 tf_function=0
# Feedback: loss_value ~ unmodified stub
# Feedback: update_step ~ unmodified stub
# Keep: stubs
