"""Analysis of finished runs: the tables, conclusions and quoted figures the notebooks, the
report and the READMEs show, computed by tested functions (the notebooks only draw them)."""
