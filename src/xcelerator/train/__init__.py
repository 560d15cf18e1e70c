"""Datasets and a small seeded trainer for candidate networks."""
