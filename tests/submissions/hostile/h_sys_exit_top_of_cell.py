# What: sys.exit() at the top of the loss function's cell: as in Jupyter, the rest of that cell (the definition) never
# What: runs, so the loss function does not exist
# What: One mistake, one penalty: the update step, right, is judged by the substituted gradient (issue 19; it lost
# What: its 3 points to the missing loss function before)
# Expected: loss_value=0 gradient_sign=0 l2_regularizer=0 raw_score=0 update_step=3 score_increase=0 tf_function=0
# Status: graded
# Feedback: loss_value ~ stops at line 2
# Feedback: loss_value ~ not defined
# %%
import sys
sys.exit()

def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
