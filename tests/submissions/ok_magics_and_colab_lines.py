# What: IPython magics and shell lines around the answers (%%time on the answer cell, !pip, %matplotlib,
# What: Colab's drive.mount), an answer cell turned into markdown by mistake that also has a working copy
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %% [at=start]
!pip install -q tensorflow
%matplotlib inline
from google.colab import drive
drive.mount('/content/drive')

# %%
%%time
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    grads = tape.gradient(loss, X)
    return loss, grads

# %% [markdown]
# def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
#     return X

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.float32(X + learning_rate * dX.numpy())

# %% [at=end]
!ls -la
%time X = class_visualization_update_step(model, X0, 76, 1e-3, 25.0)
class_visualization_update_step?
