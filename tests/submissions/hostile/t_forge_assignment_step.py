# What: a default argument replaces classviz.visualize.assignment_step (the provided loop's step) with a good ascent
# What: step, while the student's own update step descends: tampering detected
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=0 score_increase=0 tf_function=0
# Status: graded
# Reason: tampering detected: classviz.visualize.assignment_step
# %%
import classviz.visualize as _v


def _good_step(update_step, loss_and_gradient, model):
    def step(model_, X, target_y, l2_reg, learning_rate):
        _, dX = loss_and_gradient(model_, X, target_y, l2_reg)
        return (X + learning_rate * dX.numpy()).astype(np.float32)
    return step, None


def class_visualization_loss_and_gradient(model, X, target_y, l2_reg,
        _hack=setattr(_v, "assignment_step", _good_step)):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    _, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return (X - learning_rate * dX.numpy()).astype(np.float32)
