"""Writes of the datasets app: AVSBench import (`avsbench_import`), exports (`export`), evaluation reports
(`evaluation`). Import the functions from their modules."""
