"""The paper's study: its constants, calibration and the chapters' experiments."""
