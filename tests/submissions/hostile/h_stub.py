# What: the two unmodified stubs
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=0 score_increase=0 tf_function=0
# Status: graded
# Feedback: loss_value ~ unmodified stub
# Keep: stubs
