"""Measuring the LSTM autoencoder: training and scoring benchmarks, SKAB with a trained model.

Tools, not runtime: nothing the worker runs imports this package.
"""
