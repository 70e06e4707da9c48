"""The book's figures: image grids, kernels, feature maps, training curves, confusion matrices,
architecture diagrams and sliding-window animations.

Each function draws into a new figure and returns it, so a notebook cell shows it once and a
test can inspect it; the animations return an object that a notebook shows as self-contained
HTML. Images are given as tensors; normalised ones are mapped back to 0..1. Chapters call them
as ``plots.show_images(...)``; the modules group them by what they show:

- images: image grids, kernels, feature maps, kernel responses, mistakes, one prediction
- curves: training curves, repeated runs, value histograms, activation functions, loss curves,
  the learning-rate range test, a schedule's rate and momentum, class counts, receptive fields,
  a layer's input percentiles over training
- speed: training throughput on each device, time to accuracy (from recorded results)
- confusion: the confusion matrix and the most-confused pairs
- convolution: a convolution's sliding window, drawn and animated (``animate_conv``,
  ``animate_pooling``), LRN's effect
- experiments: an experiment's record, each arm's seeds as a band around their mean
- seeds: repeated runs as points, every seed's result and each arm's mean through them
- architecture: residual blocks drawn as diagrams, and any model's layers with their output
  shapes from one forward pass (``architecture``; AlexNet's two GPUs, ResNet's shortcuts)
"""

from .architecture import BLOCKS, architecture, draw_blocks, draw_inception
from .confusion import confusion_matrix, most_confused, plot_confusion_matrix
from .convolution import (HtmlAnimation, animate_conv, animate_pooling, plot_conv_sliding,
                          plot_lrn_effect)
from .curves import (plot_activations, plot_class_counts, plot_history, plot_loss_curves,
                     plot_lr_range_test, plot_percentiles, plot_receptive_fields, plot_runs,
                     plot_schedule, plot_value_histograms)
from .experiments import plot_record
from .images import (feature_maps, show_feature_maps, show_images, show_kernel_responses,
                     show_kernels, show_misclassified, show_prediction)
from .seeds import plot_seed_points
from .speed import plot_throughput, plot_time_to_accuracy

__all__ = ["BLOCKS", "HtmlAnimation", "animate_conv", "animate_pooling", "architecture",
           "confusion_matrix", "draw_blocks", "draw_inception", "feature_maps", "most_confused",
           "plot_activations", "plot_class_counts", "plot_confusion_matrix", "plot_conv_sliding",
           "plot_history", "plot_loss_curves", "plot_lr_range_test", "plot_lrn_effect",
           "plot_percentiles",
           "plot_receptive_fields", "plot_record", "plot_runs", "plot_schedule",
           "plot_seed_points", "plot_throughput", "plot_time_to_accuracy",
           "plot_value_histograms", "show_feature_maps", "show_images", "show_kernel_responses",
           "show_kernels", "show_misclassified", "show_prediction"]
