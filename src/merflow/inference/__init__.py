"""Using trained runs: finding them, predicting one file, the neural models' prediction,
annotating a corpus.
"""
