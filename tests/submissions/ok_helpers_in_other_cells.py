# What: helpers and constants defined in cells of their own; a demo loop that never ends (must never run);
# What: a redundant model load; an unrelated cell with a syntax error
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
SQUARED = 2
penalty_of = None


def squared_l2_norm(X):
    return tf.reduce_sum(tf.pow(X, SQUARED))

# %%
def raw_score(model, X, target_y):
    return model(X)[0, target_y]

# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = raw_score(model, X, target_y) - l2_reg * squared_l2_norm(X)
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return (tf.convert_to_tensor(X) + learning_rate * dX).numpy()

# %% [at=end]
model = classviz.load_squeezenet()
while True:  # a demo that runs forever: the grader must never execute it
    X = create_class_visualization(76, model)

# %% [at=end]
print("this cell has a syntax error" +)
