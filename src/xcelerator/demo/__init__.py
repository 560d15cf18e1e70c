"""The end-to-end demo: ``xc.optimize`` on a published baseline for Fashion-MNIST (digits as the
quick path), honest test accuracy, and the device's choice against a MACs proxy's."""
