"""The book's figures: image grids, kernels, feature maps, training curves, confusion matrices.

Each function draws into a new figure and returns it, so a notebook cell shows it once and a
test can inspect it. Images are given as tensors; normalised ones are mapped back to 0..1.
Chapters call them as ``plots.show_images(...)``; the modules group them by what they show:

- images: image grids, kernels, feature maps, kernel responses, mistakes, one prediction
- curves: training curves, activation functions, loss curves, the learning-rate range test,
  class counts, receptive fields, time to accuracy
- confusion: the confusion matrix and the most-confused pairs
- convolution: a convolution's sliding window, LRN's effect
- architecture: networks and blocks drawn as diagrams
"""

from .architecture import BLOCKS, draw_blocks
from .confusion import confusion_matrix, most_confused, plot_confusion_matrix
from .convolution import plot_conv_sliding, plot_lrn_effect
from .curves import (plot_activations, plot_class_counts, plot_history, plot_loss_curves,
                     plot_lr_range_test, plot_receptive_fields, plot_runs,
                     plot_time_to_accuracy, plot_value_histograms)
from .images import (feature_maps, show_feature_maps, show_images, show_kernel_responses,
                     show_kernels, show_misclassified, show_prediction)

__all__ = ["BLOCKS", "confusion_matrix", "draw_blocks", "feature_maps", "most_confused",
           "plot_activations", "plot_class_counts", "plot_confusion_matrix", "plot_conv_sliding",
           "plot_history", "plot_loss_curves", "plot_lr_range_test", "plot_lrn_effect",
           "plot_receptive_fields", "plot_runs", "plot_time_to_accuracy", "plot_value_histograms", "show_feature_maps", "show_images",
           "show_kernel_responses", "show_kernels", "show_misclassified", "show_prediction"]
