"""AVSBench-exact evaluation: metrics (`metrics`), layout readers/writers (`datasets`), runs (`runner`)."""
