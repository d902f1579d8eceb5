"""lib/es: why ES fine-tunes with populations of ~30 and why its reward rises then decays
(Liang et al., arXiv:2602.00170; the ES update of Qiu et al., arXiv:2509.24372).

- ``quadratic``: the minimal model (Eq. 14), its exact curves (Eqs. 16-25) and its Monte Carlo.
- ``estimator``: the ES-at-scale update, batched over runs with padded populations.
- ``geometry``: ΔR of random perturbations under low-rank and isotropic curvature; best-of-N.
- ``network``: a digits MLP (scikit-learn's ``load_digits``) and its expected-accuracy reward.
- ``curvature``: Hessian-vector products, Lanczos and Hutchinson on that reward.
- ``experiments``: the chapter's experiments, returning arrays and tables.
- ``params``: the chapter's validated parameters.
"""
