"""Reading and judging finished runs: run directories, the tidy results table, statistics, and
the tables, conclusions, headline and plots the notebooks, the report and the READMEs show,
computed by tested functions (the notebooks only draw them). Runs nothing."""
