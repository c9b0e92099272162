"""What people use, beside the inspection loop: the review page for warehouse ops (`review`, and `qc users`), the
waste feed for forecasting (`feed`, `qc waste export`), and reviewed frames as a training data set (`retrain`,
`qc dataset from-reviews`). Each reads and writes the store (`edge.store`); none imports the service.
"""
