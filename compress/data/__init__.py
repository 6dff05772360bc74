"""Arrays in, arrays out: data sets from generated faces and image files, splits, augmentation, metrics."""
