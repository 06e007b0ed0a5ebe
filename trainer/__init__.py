"""DeepLabV3+ on Pascal VOC 2012: data, model, losses, metrics and the `train` objective."""
