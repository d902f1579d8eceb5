"""Inverse depth scaling (Liu, Kangaslahti, Liu & Gore, arXiv 2602.05970): residual MLP
teacher-student toys batched over depths, teachers, temperatures and seeds, with probes of how
the trained students use their layers."""
