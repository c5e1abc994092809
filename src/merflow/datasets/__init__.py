"""Datasets: manifests of songs and clips, and the generators/downloaders that fill them."""
